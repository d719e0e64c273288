"""Deep Q-learning for bitrate selection (needs torch: the `train` extra).

networks (Q-network, dueling head), nstep (n-step returns), replay (uniform and prioritized),
targets (Double-DQN target, DQfD's large-margin loss, Polyak, schedules),
demos (a baseline's play as DQfD demonstrations), policy (a Q-network as a batched policy),
config (settings), train (the loop behind `abr train`).
"""
