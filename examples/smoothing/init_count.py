"""init.command of task `count`: starts an empty counts file."""

open("data/counts.txt", "w").close()
