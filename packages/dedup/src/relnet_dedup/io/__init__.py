"""The duplicate remover's files: COCO detections in and out, COCOeval, checkpoints, ONNX.

- :mod:`.coco`: COCO results and ground truth files in, COCO results out, training from them;
- :mod:`.cocoeval`: :func:`~relnet_dedup.coco_eval` and :func:`~relnet_dedup.evaluate_coco`;
- :mod:`._coco_records`: reading JSON files and checking every COCO record;
- :mod:`.checkpoint`: :func:`~relnet_dedup.save_checkpoint`, :func:`~relnet_dedup.load_checkpoint`;
- :mod:`.export`: :func:`~relnet_dedup.export_onnx`.

The functions are imported from the top level (``from relnet_dedup import evaluate_coco``).
"""
