"""mf-parallel's tests, a package; the scripts under workers/ run in msrun's worker processes and import each other
from that folder."""
