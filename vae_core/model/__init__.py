"""The model: the VAE and its config (``vae``) and the decoder likelihoods, each declaring what it has (a sigma,
a bound on log p(x)) (``likelihoods``)."""
