"""The commands of ``relnet``, one module each; each imports its libraries lazily."""
