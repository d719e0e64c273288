"""Deep Q-learning for bitrate selection (needs the `train` extra: torch).

So far: the Q-network (MLP, optional dueling head), n-step returns, uniform and prioritized
replay (sum tree), and the Double-DQN target. The training loop and `abr train` come next.
"""
