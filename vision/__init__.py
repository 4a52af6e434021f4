"""Vision: frame sources, the YOLO detector and the multi-object tracker.

Data flows one way: a source yields ``Frame``s, the detector turns each into
``Detections``, the tracker gives them track ids. Nothing here keeps a frame.
"""

import os as _os

# ultralytics prints a banner on every model load; baywatch reports progress itself.
_os.environ.setdefault("YOLO_VERBOSE", "False")
# FFmpeg (inside OpenCV) would print demuxer warnings for every damaged file; baywatch
# reports such problems itself, in one line.
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
_os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
