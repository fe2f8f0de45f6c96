"""An intermittent neighbour for interference checks: one core busy for ON seconds, idle for OFF seconds, until
killed or for at most MINUTES (default 5 s on, 5 s off, 40 min).

    python scripts/neighbour.py [ON OFF MINUTES] & NB=$!; edgebench run ...; kill $NB
"""
import sys
import time

on, off, minutes = (float(v) for v in (sys.argv[1:4] if len(sys.argv) >= 4 else (5.0, 5.0, 40.0)))
end = time.time() + minutes * 60.0
while time.time() < end:
    busy = time.time() + on
    while time.time() < busy:
        pass
    time.sleep(off)
