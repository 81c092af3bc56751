"""Instance heads with object relation modules (Relation Networks for Object Detection, §4.2)."""
