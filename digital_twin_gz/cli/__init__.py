"""``digital-twin-gz``: the command line of the digital twin, one module per command."""

from digital_twin_gz.cli import calibrate, check, demo, fleet, replay, teleop  # noqa: F401 - each registers its command
from digital_twin_gz.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
