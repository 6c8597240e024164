"""Tracking: sinks for what a run produces, where ML engineers already look (TensorBoard, MLflow). Keras
callbacks and study hooks (search/hooks.py's TrialHook) handed to train() and the engine by the commands; the
core never imports them."""
