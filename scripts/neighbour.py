"""An intermittent neighbour for interference checks: one core busy for ON seconds, idle for OFF seconds, until
killed or for at most MINUTES.

    python scripts/neighbour.py [--on 5] [--off 5] [--minutes 40] & NB=$!; edgebench run ...; kill $NB
"""
import argparse
import time


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds or minutes")
    return value


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--on", type=positive, default=5.0, help="busy seconds (default 5)")
parser.add_argument("--off", type=positive, default=5.0, help="idle seconds (default 5)")
parser.add_argument("--minutes", type=positive, default=40.0, help="stop after this long at most (default 40)")
args = parser.parse_args()
end = time.time() + args.minutes * 60.0
while time.time() < end:
    busy = time.time() + args.on
    while time.time() < busy:
        pass
    time.sleep(args.off)
