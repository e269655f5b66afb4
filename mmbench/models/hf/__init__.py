"""`hf:` model adapters: Hugging Face transformers models from the hub or a local directory.

Modules, each importing only those listed before it (no cycle):

* `source`: URI forms, pinning a hub revision to its commit or hashing a local directory, and
  the cheap identity a cached rerun uses instead of loading.
* `families`: dual encoder or generator, decided from the config and model class, never from the
  repository name; the trust-remote-code check.
* `adapter`: the `HFAdapter` base class and the helpers both families use.
* `dual_encoder`: CLIP, SigLIP, SigLIP2, ALIGN, ... (``encode_images``, ``encode_texts``,
  ``encode_videos``).
* `generator`: BLIP, GIT, BLIP-2, LLaVA, Qwen2-VL, Idefics, PaliGemma, ... (``generate``).
* `loading`: the scheme's entry points `load` and `identify` (`mmbench.models.SCHEMES`).

This package imports nothing itself, so importing any of its modules stays cheap; torch and
transformers are imported inside functions only.
"""
