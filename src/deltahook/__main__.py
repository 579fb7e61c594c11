from deltahook.cli import run

run()
