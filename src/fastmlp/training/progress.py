"""Per-epoch progress for fit(verbose=True).

Printing happens in Python between epochs, never inside the kernels' nogil
loop. On a terminal one line is rewritten in place as a bar over the epochs;
otherwise (a log file, a pipe, a notebook capture) one line per epoch.
Epochs are shown counted from 1, as plot_history draws them; the
``"epoch"`` of a metrics dict stays the 0-based index into ``net.history``.
"""
import sys

BAR_WIDTH = 24


def format_early_stop(last, best, best_val_loss, patience, min_delta=0.0):
    """The line that says why fit stopped before its last epoch and what it
    restored; ``last`` and ``best`` are indices into history (best None: no
    epoch's validation objective was finite, nothing was restored)."""
    by = f" by more than {min_delta:g}" if min_delta > 0 else ""
    said = (f"stopped early after epoch {last + 1}: no improvement{by} of the validation "
            f"objective for {patience} epoch{'s' if patience != 1 else ''}")
    if best is None:
        return f"{said}; none was finite, nothing restored"
    return f"{said}; restored epoch {best + 1} (val_loss {best_val_loss:.6g})"


def format_metrics(metrics):
    parts = [f"epoch {metrics['epoch'] + 1:>4}", f"objective {metrics['objective']:.6g}"]
    if "val_loss" in metrics:
        parts.append(f"val_loss {metrics['val_loss']:.6g}")
    if "val_accuracy" in metrics:
        parts.append(f"val_accuracy {metrics['val_accuracy']:.4f}")
    parts.append(f"{metrics['seconds']:.3f} s")
    parts.append(f"{metrics['samples_per_second']:,.0f} samples/s")
    return "  ".join(parts)


class EpochReporter:
    def __init__(self, epochs, stream=None):
        self.epochs = epochs
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self.drawn = False

    def epoch_done(self, index, metrics):
        text = format_metrics(metrics)
        if self.live:
            filled = int(BAR_WIDTH * (index + 1) / self.epochs)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {index + 1}/{self.epochs}  {text}\033[K")
            self.drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def stopped_early(self, last, best, best_val_loss, patience, min_delta=0.0):
        """After the epoch ``last``, patience ran out (format_early_stop)."""
        self._end_bar()
        self.stream.write(format_early_stop(last, best, best_val_loss, patience,
                                            min_delta) + "\n")
        self.stream.flush()

    def _end_bar(self):
        if self.live and self.drawn:
            self.stream.write("\n")
            self.drawn = False

    def close(self):
        self._end_bar()
        self.stream.flush()
