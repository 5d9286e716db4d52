"""The one training algorithm (PPO + AMP in JAX), apart from the simulators it trains on.

It depends on the two env seams of `ampbench.sim.protocol` only (`JaxEnv`, fused into one compiled
update; `BatchedEnv`, stepped on the host), never on a simulator package, so MJX, MuJoCo C and Isaac Lab
train with the same code.
"""
