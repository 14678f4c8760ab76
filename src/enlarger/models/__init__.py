"""Optional, lazy, pluggable models: face detection, saliency and foreground segmentation."""
