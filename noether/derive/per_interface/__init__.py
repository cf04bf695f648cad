"""The per-interface method: MLPs under MSE, one hidden interface at a time, in closed form."""
