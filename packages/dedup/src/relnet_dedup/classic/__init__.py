"""The duplicate removers that learn nothing: greedy NMS and Soft-NMS (the baselines that paper
§4.3 replaces, Table 4) and the oracle that knows the ground truth (the ceiling of any remover
that keeps ``s0``).

- :mod:`.nms`: :func:`~relnet_dedup.nms`, :func:`~relnet_dedup.batched_nms`;
- :mod:`.soft_nms`: :func:`~relnet_dedup.soft_nms`, :func:`~relnet_dedup.batched_soft_nms`;
- :mod:`.oracle`: :func:`~relnet_dedup.oracle_batched_nms`.

The functions are imported from the top level (``from relnet_dedup import batched_nms``); this
package re-exports none of them, so that ``relnet_dedup.classic.nms`` is the module, not the
function of the same name.
"""
