"""A real S3-compatible server on 127.0.0.1 for tests and benchmarks: moto's server mode
(``moto[server]``) in a child process, on a free port, with request signing checked.

    with S3Server() as s3:            # s3.env: the AWS_* environment of a user it created
        s3.client().create_bucket(Bucket="b")
        s3.requests()                  # request lines served so far (``"GET /b/k HTTP/1.1" 206``)
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


class S3Server:
    def __init__(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = Path(tempfile.mkdtemp(prefix="assay-s3-")) / "requests.log"
        self._proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def start(self) -> "S3Server":
        # Three unauthenticated calls create the user whose key signs every later request; from
        # then on moto checks signatures, so a wrong secret is refused as by a real store.
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
        self._proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=open(self._log, "wb"))
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1)
                break
            except OSError:
                if time.time() > deadline or self._proc.poll() is not None:
                    raise RuntimeError(f"moto server did not start: {self._log.read_text()[-2000:]}")
                time.sleep(0.1)
        import boto3

        iam = boto3.client("iam", endpoint_url=self.url, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="assay")
        iam.put_user_policy(UserName="assay", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="assay")["AccessKey"]
        self.env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                    "AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": "us-east-1"}
        return self

    @property
    def secret(self) -> str:
        return self.env["AWS_SECRET_ACCESS_KEY"]

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"])

    def upload(self, bucket: str, folder: Path, prefix: str = "") -> None:
        """Every file under ``folder`` to ``s3://bucket/prefix/...``, as it is."""
        client = self.client()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, f"{prefix}{path.relative_to(folder).as_posix()}")

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def requests(self) -> list[str]:
        """The request lines the server has answered, in order (method, path, status)."""
        lines = re.findall(r'"((?:GET|PUT|POST|HEAD|DELETE) [^"]*)" (\d{3})',
                           re.sub(r"\x1b\[[0-9;]*m", "", self._log.read_text(errors="replace")))
        return [f"{line} {status}" for line, status in lines]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=30)

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
