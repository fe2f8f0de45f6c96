"""The device lab: many boards measured from one host through labgrid, every result in one store.

``coordinator`` talks to labgrid's coordinator (places, reservations, who holds what); ``ssh`` reaches a
board (keys only, host keys checked); ``board`` is what runs on a board (``edgebench lab board``: a run
whose result lines stream back); ``fleet`` starts and resumes a lab run, and ``dispatch`` runs it on the
boards, surviving their loss; ``holds`` frees places a dead host left; ``store`` keeps every board's lines
in one SQLite or PostgreSQL database; ``lines`` decides which board lines are result records;
``runfolder`` is lab.json; ``describe`` writes the exporter's configuration and shows the lab.
"""
