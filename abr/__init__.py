"""abr: adaptive-bitrate control — simulator, baselines, DQN trainer and decision service."""

__version__ = "0.1.0"
