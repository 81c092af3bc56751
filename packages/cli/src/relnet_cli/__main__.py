"""``python -m relnet_cli`` (and ``torchrun -m relnet_cli train ...``): the ``relnet`` command."""

from .main import app

app(prog_name="relnet")
