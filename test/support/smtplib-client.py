"""A second, independent SMTP client for the submission tests: Python's smtplib.

Reads one JSON job on stdin: {host, port, user, password, starttls, mail_from, rcpt: [...], message (text)}
and prints one JSON line: the EHLO features and the reply to each step.
"""
import json
import smtplib
import ssl
import sys

job = json.load(sys.stdin)
out = {}
client = smtplib.SMTP(job["host"], job["port"], timeout=20)
try:
    client.ehlo("python.test")
    out["features"] = {k: v for k, v in client.esmtp_features.items()}
    if job.get("starttls"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        out["starttls"] = list(client.starttls(context=context))
        out["starttls"][1] = out["starttls"][1].decode()
        client.ehlo("python.test")
    try:
        client.login(job["user"], job["password"])
        out["login"] = "ok"
    except smtplib.SMTPAuthenticationError as error:
        out["login"] = [error.smtp_code, error.smtp_error.decode()]
        print(json.dumps(out))
        sys.exit(0)
    code, text = client.mail(job["mail_from"])
    out["mail"] = [code, text.decode()]
    out["rcpt"] = []
    for address in job["rcpt"]:
        code, text = client.rcpt(address)
        out["rcpt"].append([code, text.decode()])
    try:
        code, text = client.data(job["message"].encode("utf-8"))
        out["data"] = [code, text.decode()]
    except smtplib.SMTPDataError as error:
        out["data"] = [error.smtp_code, error.smtp_error.decode()]
finally:
    try:
        client.quit()
    except Exception:
        pass
print(json.dumps(out))
