"""gunicorn settings for the web process (`clozings run`, the container image, k8s).

Every value can be overridden on the command line (`clozings run` passes --bind) or with
gunicorn's own environment variables (GUNICORN_CMD_ARGS, WEB_CONCURRENCY, PORT).
"""

import os

wsgi_app = "clozings.platform.wsgi:application"
# Two workers on the 2-core target machine; a few threads each cover slow clients.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 5000
max_requests_jitter = 500
# Heartbeat files in memory: a container's overlay filesystem can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
proc_name = "clozings-web"
# gunicorn's control socket lives at one path per user: two servers on a machine would
# fight over it, and nothing here uses it.
control_socket_disable = True
