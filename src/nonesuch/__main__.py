from nonesuch.cli import run_app

run_app()
