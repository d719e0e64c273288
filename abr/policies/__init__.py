"""ABR policies behind one batched protocol (`base.Policy`), named in `registry.POLICIES`."""
