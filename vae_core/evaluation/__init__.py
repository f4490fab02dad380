"""Measuring a trained model: ELBO, IWAE and the other metrics (``metrics``), AIS (``ais``), exact 2-D quadrature
(``quadrature``), the best estimate of log p(x) among them (``best_likelihood``) and the digit classifier
(``classifier``)."""
