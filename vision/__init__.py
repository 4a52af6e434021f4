"""Vision: frame sources, the YOLO detector and the multi-object tracker.

Data flows one way: a source yields ``Frame``s, the detector turns each into
``Detections``, the tracker gives them track ids. Nothing here keeps a frame.
"""
