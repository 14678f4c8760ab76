"""Cloudflare's Images binding (``env.IMAGES``), in Python and on the binding's wire protocol.

- :mod:`.api`: :class:`Images` (``info``, ``input``, ``text``, ``hosted``) and :class:`ImageTransformer`;
- :mod:`.graph`: the tree a call describes (sources, transforms, draws, output), checked;
- :mod:`.render`: that tree through the engine, in the caller's order;
- :mod:`.text`, :mod:`.fonts`: text sources and the fonts they are drawn with;
- :mod:`.hosted`: stored images of one account;
- :mod:`.wire`: the multipart form workerd's binding sends, read into the same tree;
- :mod:`.errors`: :class:`ImagesError`, with the binding's codes.
"""

from enlarger.binding.api import Images, ImageTransformer
from enlarger.binding.errors import ImagesError
from enlarger.binding.render import Rendered

__all__ = ["ImageTransformer", "Images", "ImagesError", "Rendered"]
