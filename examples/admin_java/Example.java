// A Java program that drives `pop3mock serve` through its HTTP control API: add mail, inject
// a fault, run Apache Commons Net's POP3Client, verify on the server what the client did.
//
//   java -cp /usr/share/java/commons-net.jar examples/admin_java/Example.java
//
// POP3MOCK_PYTHON names the Python that has pop3mock installed (default: python3). Exits
// with status 0 when every check holds.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Reader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.commons.net.pop3.POP3Client;

public class Example {
    static final HttpClient HTTP = HttpClient.newHttpClient();

    static HttpResponse<String> call(String api, String method, String path, String body, String type)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(api + path));
        if (body == null) {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            request.header("Content-Type", type);
            request.method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    static String read(Reader reader) throws Exception {
        StringBuilder out = new StringBuilder();
        char[] buffer = new char[4096];
        for (int n; (n = reader.read(buffer)) > 0; ) {
            out.append(buffer, 0, n);
        }
        reader.close();
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        String python = System.getenv().getOrDefault("POP3MOCK_PYTHON", "python3");
        Process server = new ProcessBuilder(
                        List.of(python, "-m", "pop3mock", "serve", "--quiet", "--user", "alice:secret",
                                "--fake", "0", "--admin-port", "0"))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        try {
            // "listening on pop3://HOST:PORT", then "admin on http://HOST:PORT".
            BufferedReader lines = new BufferedReader(
                    new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
            Matcher listening = Pattern.compile("^listening on pop3://[^:]+:(\\d+)$").matcher(lines.readLine());
            check(listening.matches(), "no listening line");
            int port = Integer.parseInt(listening.group(1));
            Matcher admin = Pattern.compile("^admin on (http://\\S+)$").matcher(lines.readLine());
            check(admin.matches(), "no admin line");
            String api = admin.group(1);

            String message = "From: build@example.test\r\nSubject: build 42\r\n\r\nAll green.\r\n";
            check(call(api, "POST", "/users/alice/messages", message, "message/rfc822").statusCode() == 201,
                    "message added");
            String fault = "{\"spec\": \"RETR 1 once: error [SYS/TEMP] busy\"}";
            check(call(api, "POST", "/faults", fault, "application/json").statusCode() == 201, "fault added");

            POP3Client client = new POP3Client();
            client.connect("127.0.0.1", port);
            check(client.login("alice", "secret"), "login");
            check(client.listMessages().length == 1, "one message listed");
            // The fault: RETR 1 answers -ERR [SYS/TEMP] busy, and Commons Net gives null.
            check(client.retrieveMessage(1) == null, "the first RETR is refused");
            check(client.getReplyString().contains("[SYS/TEMP] busy"), "the fault's reply");
            String body = read(client.retrieveMessage(1));
            check(body.replace("\r\n", "\n").equals(message.replace("\r\n", "\n")), "the message: " + body);
            client.logout();
            client.disconnect();

            check(call(api, "GET", "/journal/wait?sessions_ended=1&timeout=10", null, null).statusCode() == 200,
                    "the session ended");
            String verify = "{\"command\": \"RETR\", \"args\": [\"1\"], \"count\": 2}";
            HttpResponse<String> verified = call(api, "POST", "/journal/verify", verify, "application/json");
            check(verified.statusCode() == 200, verified.body());
            String faults = call(api, "GET", "/faults", null, null).body();
            check(faults.contains("\"fired\":1"), faults);
            System.out.println("ok: Commons Net retried the RETR that pop3mock refused");
        } finally {
            server.destroy(); // SIGTERM: pop3mock stops cleanly
            check(server.waitFor() == 0, "pop3mock serve exit status");
        }
    }
}
