"""What the distributed test's workers run (scenarios.py, a script msrun starts) and its in-process reference."""
