"""Predictive models with honest validation.

``bgnbd`` and ``gamma_gamma`` are pure functions over arrays (fits,
likelihoods, expectations, simulators); ``clv`` connects them to the warehouse
(RFM summary in SQL, scoring into ``model_scores``).
"""
