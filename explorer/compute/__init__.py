"""The explorer's pure computations, used by its pages and nothing else: uploads and drawings to model input
(``uploads``, ``drawing``), pictures (``images``), reconstructions and the latent plane (``latent``), the exact
posterior view (``posterior_view``) and the Reconstruct page's instruments (``instruments``). No Streamlit here."""
