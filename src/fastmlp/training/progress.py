"""Per-epoch progress for fit(verbose=True).

Printing happens in Python between epochs, never inside the kernels' nogil
loop. On a terminal one line is rewritten in place as a bar over the epochs;
otherwise (a log file, a pipe, a notebook capture) one line per epoch.
Epochs are shown counted from 1, as plot_history draws them; the
``"epoch"`` of a metrics dict stays the 0-based index into ``net.history``.
"""
import sys

BAR_WIDTH = 24


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

    def close(self):
        if self.live and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
