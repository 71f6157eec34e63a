#!/usr/bin/env python3
"""Signs a few hundred generated S3 requests with dux (sign_requests_testing.cc, the same
request builders the Client uses) and with botocore, the AWS SDK for Python (Debian's
python3-botocore: a botocore S3 client, so its S3SigV4Auth signs what its own serializer
built), at the same fixed time, and fails on any difference in the URL's path, its query
parameters, the body or the Authorization header.

Requests: every operation dux sends (HEAD, ranged GET with If-Match, ListObjectsV2 with
prefixes, delimiters and continuation tokens, PUT, the multipart operations, DELETE and
DeleteObjects), keys with spaces, unicode, '=', '+', '%', '~' and the rest of ASCII's
punctuation, path and virtual-host URLs, several regions, with and without session tokens.

usage: botocore_signatures_test.py SIGN_TOOL [--count N] [--seed S]
"""
import argparse
import json
import random
import subprocess
import sys
import types
import datetime
from urllib.parse import urlsplit

try:
    import botocore
    import botocore.auth
    import botocore.session
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config
except ImportError as error:  # pragma: no cover
    sys.exit(f"botocore is missing ({error}): install python3-botocore (scripts/setup.sh)")

# botocore reads the clock in SigV4Auth.add_auth through botocore.auth.datetime: a stand-in
# module whose utcnow is the spec's time.
NOW = [datetime.datetime(2015, 8, 30, 12, 36, 0)]


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return NOW[0]


botocore.auth.datetime = types.SimpleNamespace(datetime=FixedDatetime)

KEY_CHARS = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
             list(" =+%~-_./!*'(),;:@&$#?[]^`{}|\"<>\\") +
             ["é", "ü", "ß", "中", "文", "😀", "\u00a0", "ø"])
TOKEN_CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=")


def random_key(rng):
    parts = []
    for _ in range(rng.randint(1, 4)):
        parts.append("".join(rng.choice(KEY_CHARS) for _ in range(rng.randint(1, 12))))
    key = "/".join(parts)
    if rng.random() < 0.05:
        key = "/" + key  # a key may start with '/': the path then has "//"
    if rng.random() < 0.05:
        key += "/../x/./y"  # S3 does not normalise: neither may the signer
    return key


def random_config(rng, index):
    style = rng.choice(["path", "virtual"])
    region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
    if style == "path":
        endpoint = rng.choice(["http://127.0.0.1:9000", "https://localhost:9443",
                               f"https://s3.{region}.amazonaws.com", "http://minio.internal:9000"])
    else:
        endpoint = rng.choice([f"https://s3.{region}.amazonaws.com", "http://minio.internal:9000"])
    return {
        "style": style, "region": region, "endpoint": endpoint,
        "access_key_id": f"AKID{index}EXAMPLE",
        "secret_access_key": "".join(rng.choice(TOKEN_CHARS) for _ in range(40)),
        "session_token": ("".join(rng.choice(TOKEN_CHARS) for _ in range(rng.randint(20, 200)))
                          if rng.random() < 0.5 else None),
    }


def random_spec(rng, config):
    op = rng.choice(["head", "get", "get", "list", "list", "put", "create", "upload_part",
                     "complete", "abort", "delete", "delete_objects"])
    spec = dict(config)
    spec["op"] = op
    # Dotted bucket names only in path style (in virtual-host style they break TLS).
    spec["bucket"] = rng.choice(["lake", "my-bucket-1", "data2024"] +
                                (["my.dotted.bucket"] if config["style"] == "path" else []))
    spec["key"] = random_key(rng)
    spec["time"] = rng.randint(1420070400, 1893456000)  # 2015 to 2030
    if op == "get":
        first = rng.randint(0, 10**12)
        spec["range"] = [first, first + rng.randint(0, 10**8)] if rng.random() < 0.8 else None
        spec["if_match"] = f'"{rng.getrandbits(128):032x}"' if rng.random() < 0.7 else ""
    elif op == "list":
        spec["prefix"] = random_key(rng) if rng.random() < 0.8 else ""
        spec["delimiter"] = "/" if rng.random() < 0.5 else None
        spec["continuation_token"] = ("".join(rng.choice(TOKEN_CHARS)
                                              for _ in range(rng.randint(8, 120)))
                                      if rng.random() < 0.6 else None)
        spec["max_keys"] = rng.choice([None, 1, 100, 1000])
    elif op in ("put", "upload_part"):
        spec["body"] = "".join(rng.choice(KEY_CHARS) for _ in range(rng.randint(0, 3000)))
    if op in ("upload_part", "complete", "abort"):
        spec["upload_id"] = "".join(rng.choice(TOKEN_CHARS + ["-", "_", "."])
                                    for _ in range(rng.randint(10, 80)))
    if op == "upload_part":
        spec["part_number"] = rng.randint(1, 10000)
    if op == "complete":
        spec["parts"] = [[n, f'"{rng.getrandbits(128):032x}"']
                         for n in range(1, rng.randint(2, 8))]
    if op == "delete_objects":
        spec["keys"] = [random_key(rng) for _ in range(rng.randint(1, 20))]
    return spec


CLIENTS = {}


def botocore_client(spec):
    identity = (spec["style"], spec["region"], spec["endpoint"], spec["access_key_id"],
                spec["secret_access_key"], spec["session_token"])
    if identity not in CLIENTS:
        client = botocore.session.get_session().create_client(
            "s3", region_name=spec["region"], endpoint_url=spec["endpoint"],
            aws_access_key_id=spec["access_key_id"],
            aws_secret_access_key=spec["secret_access_key"],
            aws_session_token=spec["session_token"],
            config=Config(signature_version="s3v4", s3={"addressing_style": spec["style"]},
                          retries={"total_max_attempts": 1}))
        captured = []

        def before_send(request, **_):
            captured.append(request)
            return AWSResponse(request.url, 200, {}, None)  # nothing leaves the process

        client.meta.events.register("before-send.s3", before_send)
        CLIENTS[identity] = (client, captured)
    return CLIENTS[identity]


def sign_with_botocore(spec):
    client, captured = botocore_client(spec)
    captured.clear()
    NOW[0] = datetime.datetime.utcfromtimestamp(spec["time"])
    b, k = spec["bucket"], spec["key"]
    op = spec["op"]
    call = {
        "head": lambda: client.head_object(Bucket=b, Key=k),
        "get": lambda: client.get_object(
            Bucket=b, Key=k,
            **({"Range": f"bytes={spec['range'][0]}-{spec['range'][1]}"} if spec["range"] else {}),
            **({"IfMatch": spec["if_match"]} if spec["if_match"] else {})),
        "list": lambda: client.list_objects_v2(
            Bucket=b,
            **({"Prefix": spec["prefix"]} if spec["prefix"] else {}),
            **({"Delimiter": spec["delimiter"]} if spec["delimiter"] else {}),
            **({"ContinuationToken": spec["continuation_token"]}
               if spec["continuation_token"] else {}),
            **({"MaxKeys": spec["max_keys"]} if spec["max_keys"] else {})),
        "put": lambda: client.put_object(Bucket=b, Key=k, Body=spec["body"].encode()),
        "create": lambda: client.create_multipart_upload(Bucket=b, Key=k),
        "upload_part": lambda: client.upload_part(
            Bucket=b, Key=k, UploadId=spec["upload_id"], PartNumber=spec["part_number"],
            Body=spec["body"].encode()),
        "complete": lambda: client.complete_multipart_upload(
            Bucket=b, Key=k, UploadId=spec["upload_id"],
            MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in spec["parts"]]}),
        "abort": lambda: client.abort_multipart_upload(Bucket=b, Key=k,
                                                       UploadId=spec["upload_id"]),
        "delete": lambda: client.delete_object(Bucket=b, Key=k),
        "delete_objects": lambda: client.delete_objects(
            Bucket=b, Delete={"Objects": [{"Key": key} for key in spec["keys"]], "Quiet": True}),
    }[op]
    try:
        call()
    except Exception:  # the empty stand-in answer does not parse for every operation
        pass
    if not captured:
        raise RuntimeError(f"botocore sent nothing for {op}")
    request = captured[-1]
    authorization = request.headers["Authorization"]
    if isinstance(authorization, bytes):
        authorization = authorization.decode()
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    return request.url, body.decode() if isinstance(body, bytes) else body, authorization


def split_url(url):
    parts = urlsplit(url)
    query = sorted(parts.query.split("&")) if parts.query else []
    return f"{parts.scheme}://{parts.netloc}", parts.path, query


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    configs = [random_config(rng, i) for i in range(8)]
    specs = [random_spec(rng, rng.choice(configs)) for _ in range(args.count)]

    run = subprocess.run([args.tool], input="".join(json.dumps(s) + "\n" for s in specs),
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"{args.tool} failed: {run.stderr}")
    ours = [json.loads(line) for line in run.stdout.splitlines()]
    if len(ours) != len(specs):
        sys.exit(f"{args.tool} answered {len(ours)} of {len(specs)} requests")

    failures = 0
    counts = {}
    for spec, mine in zip(specs, ours):
        url, body, authorization = sign_with_botocore(spec)
        problems = []
        if split_url(url) != split_url(mine["url"]):
            problems.append(f"url\n    botocore: {url}\n    dux:      {mine['url']}")
        if body != mine["body"]:
            problems.append(f"body\n    botocore: {body!r}\n    dux:      {mine['body']!r}")
        if authorization != mine.get("authorization"):
            problems.append(f"authorization\n    botocore: {authorization}\n"
                            f"    dux:      {mine.get('authorization')}")
        counts[spec["op"]] = counts.get(spec["op"], 0) + 1
        if problems:
            failures += 1
            if failures <= 10:
                shown = {k: v for k, v in spec.items() if k != "body"}
                print(f"MISMATCH for {json.dumps(shown, ensure_ascii=False)}:")
                for p in problems:
                    print("  " + p)
    print("requests per operation: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"botocore {botocore.__version__}, seed {args.seed}")
    print(f"{len(specs) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
