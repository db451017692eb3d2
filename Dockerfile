# syntax=docker/dockerfile:1
# Wattline image: multi-stage, runs as an unprivileged user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements/base.txt /tmp/base.txt
RUN /opt/venv/bin/pip install -r /tmp/base.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    WATTLINE_ENV=production \
    WATTLINE_VAR_DIR=/app/var
# WeasyPrint's Pango and fonts; gettext only for compiled catalogues already in locale/.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
      libharfbuzz-subset0 fonts-dejavu-core curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system wattline && useradd --system --gid wattline --home /app wattline
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=wattline:wattline . /app
# collectstatic needs settings that load: a throwaway key and a dummy database URL.
RUN DJANGO_SECRET_KEY=build-only-build-only-build-only-build-only-build-only \
    DJANGO_ALLOWED_HOSTS=build DATABASE_URL=postgresql://build@localhost/build \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var/media && chown -R wattline:wattline /app/var
USER wattline
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
