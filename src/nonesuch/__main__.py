from nonesuch.cli import app

app(prog_name="nonesuch")
