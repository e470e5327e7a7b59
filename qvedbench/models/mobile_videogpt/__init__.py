"""The Mobile-VideoGPT family (Amshaker/Mobile-VideoGPT-0.5B / -1.5B), implemented here: CLIP context encoder,
VideoMamba video encoder, ETP projectors, attention-based frame selection and a Qwen2.5 language model.

Importing the package registers the ``mobile_videogpt`` adapter and the transformers config/model classes.
"""
from transformers import AutoConfig, AutoModelForImageTextToText

from qvedbench.models.mobile_videogpt.adapter import MobileVideoGPTAdapter
from qvedbench.models.mobile_videogpt.config import MobileVideoGPTConfig, VideoMambaConfig, published_config
from qvedbench.models.mobile_videogpt.modeling import MobileVideoGPTForConditionalGeneration

AutoConfig.register(MobileVideoGPTConfig.model_type, MobileVideoGPTConfig, exist_ok=True)
AutoConfig.register(VideoMambaConfig.model_type, VideoMambaConfig, exist_ok=True)
AutoModelForImageTextToText.register(MobileVideoGPTConfig, MobileVideoGPTForConditionalGeneration, exist_ok=True)

__all__ = ["MobileVideoGPTAdapter", "MobileVideoGPTConfig", "MobileVideoGPTForConditionalGeneration",
           "VideoMambaConfig", "published_config"]
