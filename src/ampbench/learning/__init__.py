"""The one training algorithm (PPO + AMP in JAX), apart from the simulators it trains on.

It depends on two env shapes only (`protocol.JaxEnv`, fused into one compiled update; the batched-env
seam `backends.protocol.BatchedEnv`, stepped on the host), never on a simulator package, so MJX and
MuJoCo C (and Isaac Lab next) train with the same code.
"""
