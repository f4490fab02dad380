# The explorer as a Hugging Face Docker Space (README front matter: sdk: docker, app_port: 8501).
# Build and run locally: docker build -t vae-zoo . && docker run --rm -p 8501:8501 vae-zoo
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/user PATH=/home/user/.local/bin:$PATH
# A public server runs locked: no free-text zoo source, no server paths on any page (explorer/access.py).
# Two malloc arenas keep the resident memory of many sessions about 15 MiB lower (docs/soak.md).
ENV VAE_ZOO_LOCKED=1 MALLOC_ARENA_MAX=2

# Spaces run the container as user 1000; give it a home for the Hub cache.
RUN useradd --create-home --uid 1000 user
WORKDIR /home/user/app

# torch from PyTorch's CPU index first: the PyPI wheel pulls several GB of CUDA libraries. The CPU wheel
# (2.13.0+cpu) then satisfies torch==2.13.0 in requirements.txt, so pip leaves it alone.
COPY --chown=user requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.txt

# The code, the shipped checkpoints and the embedded test samples: no download at start-up.
COPY --chown=user . .
USER user

EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health')"
# XSRF protection and CORS off: the Space shows the app in an iframe on another origin, where uploads fail otherwise.
CMD ["streamlit", "run", "serve.py", "--server.port", "8501", "--server.address", "0.0.0.0", \
     "--server.enableXsrfProtection", "false", "--server.enableCORS", "false", "--server.headless", "true", \
     "--server.fileWatcherType", "none", "--client.showErrorDetails", "type"]
