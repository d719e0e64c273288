"""Deep Q-learning for bitrate selection (needs torch: the `train` extra).

networks (Q-network, dueling head), nstep (n-step returns), replay (uniform and prioritized),
targets (Double-DQN target, Polyak, schedules), policy (a Q-network as a batched policy),
config (settings), train (the loop behind `abr train`).
"""
