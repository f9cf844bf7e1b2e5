# The steps tools/sanitize.sh (ASan + UBSan) and tools/tsan.sh
# (ThreadSanitizer) share, sourced by both after they set:
#   SAN_NAME  the prefix of their messages
#   WORK      their directory under build/ (made anew by fresh_work)
#   PYTHON    the interpreter the virtualenv is made from
# Each function dies with a message when its step fails.

step() { printf '\n=== %s: %s\n' "$SAN_NAME" "$*"; }
die() { printf '%s: ERROR: %s\n' "$SAN_NAME" "$*" >&2; exit 1; }

# WORK made anew, with src/ (the snapshot to build) and testrun/ (the
# snapshot without src/, where the runs start: fastmlp is importable only
# from the virtualenv there); extra subdirectories as arguments.
fresh_work() {
    [ "$(uname -s)" = Linux ] || die "Linux only"
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "not a git checkout: $PWD"
    rm -rf "$WORK"
    mkdir -p "$WORK/src" "$WORK/testrun"
    local d
    for d in "$@"; do mkdir -p "$WORK/$d"; done

    # Files git tracks plus untracked, not ignored ones: no stale generated
    # .c file or build/ directory of the working tree is reused.
    step "snapshot of the checkout -> ${WORK#"$PWD"/}/src"
    git ls-files -z --cached --others --exclude-standard \
        | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
        | tar -xf - -C "$WORK/src"
    [ -f "$WORK/src/setup.py" ] || die "snapshot has no setup.py"
    (cd "$WORK/src" && tar --exclude=./src -cf - .) | tar -xf - -C "$WORK/testrun"
    [ -d "$WORK/testrun/tests" ] || die "snapshot has no tests/"
}

# A fresh virtualenv WORK/venv; sets VPY (its python) and CC_BIN (the
# compiler Python builds extensions with: its sanitizer runtimes are the
# ones the modules are linked against).
fresh_venv() {
    step "virtualenv ${WORK#"$PWD"/}/venv"
    "$PYTHON" -m venv "$WORK/venv"
    VPY="$WORK/venv/bin/python"
    "$VPY" -m pip install -q --upgrade pip
    local cc_cmd
    cc_cmd="${CC:-$("$VPY" -c 'import sysconfig; print(sysconfig.get_config_var("CC"))')}"
    CC_BIN="${cc_cmd%% *}"
    echo "compiler: $cc_cmd"
}

# runtime_library NAME: the path of the compiler's libNAME.so, or die.
runtime_library() {
    local lib
    lib="$("$CC_BIN" -print-file-name="lib$1.so")"
    [ -f "$lib" ] || die "no lib$1.so for $CC_BIN (got '$lib'); install it for that compiler"
    echo "$lib"
}

# install_snapshot FLAG VAR=VALUE...: pip install the snapshot with its
# test extra into the virtualenv, the variables set (the build switches
# of setup.py); the build log must show FLAG given to the compiler.
install_snapshot() {
    local flag="$1" log="$WORK/build.log"
    shift
    step "build with $*"
    env "$@" "$VPY" -m pip install -v "$WORK/src[test]" > "$log" 2>&1 \
        || { tail -n 60 "$log"; die "build failed (log: ${log#"$PWD"/})"; }
    grep -q -- "$flag" "$log" || die "the compiler was not given $flag (${log#"$PWD"/})"
}

# installed_module NAME: the path of the installed fastmlp._kernels.NAME
# extension.
installed_module() {
    (cd "$WORK" && "$VPY" -c 'import os, sys, sysconfig, glob
site = sysconfig.get_paths()["platlib"]
found = glob.glob(os.path.join(site, "fastmlp", "_kernels", sys.argv[1] + ".*.so"))
assert len(found) == 1, found
print(found[0])' "$1")
}

# print_reports DIR: prints the report files in DIR; returns 1 when there
# are any.
print_reports() {
    local reports=("$1"/*)
    [ -e "${reports[0]}" ] || return 0
    echo "$SAN_NAME: ${#reports[@]} report file(s):"
    local f
    for f in "${reports[@]}"; do
        echo "--- $f"
        cat "$f"
    done
    return 1
}
