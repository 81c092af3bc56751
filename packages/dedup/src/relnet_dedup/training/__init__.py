"""Training the duplicate removal network alone on a detector's raw output (paper §4.3,
'Training'; §5.2).

- :mod:`.targets`: the multi-threshold correct / duplicate targets;
- :mod:`.loss`: the BCE on ``s0 * s1``, :func:`~relnet_dedup.dedup_loss`;
- :mod:`.batches`: every (image, class) group with its targets, batched by size;
- :mod:`.fit`: :func:`~relnet_dedup.fit`, and :mod:`._fit_checks`, its argument checks.

The functions are imported from the top level (``from relnet_dedup import fit``); this package
re-exports none of them, so that ``relnet_dedup.training.fit`` is the module, not the function
of the same name.
"""
