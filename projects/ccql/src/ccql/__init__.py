"""SASRec-CCQL: contrastive + conservative Q-learning for session-based recommendation.

Mozifian, Sylvain, Evans, Meng, "Addressing Challenges in Reinforcement Learning for Recommender Systems with
Conservative Objectives" (v1: "Robust Reinforcement Learning Objectives for Sequential Recommender Systems"),
arXiv 2305.18820. A SASRec encoder with a Q head and a CE head, trained with a double-Q TD loss on click/purchase
rewards, a conservative (CQL) penalty, a contrastive (NT-Xent) term between a state and an augmented copy, and
Q-weighted cross-entropy after a warm-up; SASRec, SQN, SAC, SA2C and SASRec-CO are configurations of the same module.
"""

from ccql.model import QNetwork, SASRecConfig, SASRecEncoder

__all__ = ["QNetwork", "SASRecConfig", "SASRecEncoder"]
