"""A real nginx for the tests, from Debian's package (``make test`` installs it): the reverse proxy
a student puts in front of an exported demo, serving it under a path prefix.

It listens on 127.0.0.2 and connects to the apps from 127.0.0.2 (``proxy_bind``), so an app sees
its proxy as a peer that is not 127.0.0.1, as it would on a real host; visitors connect from other
127.x addresses, which stand in for other machines. Each location adds what a hosting proxy adds:
``X-Forwarded-For`` (the visitor's address appended), ``-Proto``, ``-Host`` and ``-Prefix``.
A prefix may stand for several replicas of one app: nginx takes turns between them (round robin)
and passes a request to the next one when a replica does not answer, as a host's load balancer does.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Union

from helpers import free_port, wait_until_serving

UPSTREAM = """
    upstream {name} {{
{servers}
    }}"""

LOCATION = """
    location {prefix}/ {{
        proxy_pass http://{name}/;
        proxy_bind 127.0.0.2;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Prefix {prefix};
    }}"""

CONFIG = """
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_max_body_size 64m;
{upstreams}
    server {{
        listen 127.0.0.2:{port};
{locations}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: run `make test` (it installs Debian's nginx-light)")
    return found


class NginxProxy:
    """nginx serving each app of ``upstreams`` under its prefix: prefix -> the app's port on
    127.0.0.1, or the ports of its replicas."""

    def __init__(self, upstreams: Dict[str, Union[int, List[int]]]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="demo_app-nginx-"))
        self.root.chmod(0o755)  # nginx's workers run as another user when the tests run as root
        self.port = free_port()
        groups, locations = [], []
        for number, (prefix, ports) in enumerate(upstreams.items()):
            replicas = [ports] if isinstance(ports, int) else ports
            servers = "\n".join(f"        server 127.0.0.1:{port};" for port in replicas)
            groups.append(UPSTREAM.format(name=f"app{number}", servers=servers))
            locations.append(LOCATION.format(prefix=prefix.rstrip("/"), name=f"app{number}"))
        (self.root / "nginx.conf").write_text(CONFIG.format(root=self.root, port=self.port, upstreams="".join(groups),
                                                            locations="".join(locations)))
        self.process = subprocess.Popen([nginx_binary(), "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
                                         "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # its errors go to error.log in root
        self.url = f"http://127.0.0.2:{self.port}"
        wait_until_serving(self.url, self.process)  # nginx answers /healthz with its 404: listening

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
