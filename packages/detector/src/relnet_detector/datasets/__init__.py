"""Datasets: COCO folders and the built-in synthetic relation benchmark."""
