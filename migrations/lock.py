# Any fixed number, the same for every run: one migrator at a time.
ADVISORY_LOCK_KEY = 7_004_221_311
