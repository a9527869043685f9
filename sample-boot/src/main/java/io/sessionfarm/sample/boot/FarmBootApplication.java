package io.sessionfarm.sample.boot;

import java.util.LinkedHashMap;
import java.util.Map;

import jakarta.servlet.http.HttpSession;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.embedded.tomcat.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.core.env.Environment;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

import io.sessionfarm.session.FarmManager;

/**
 * A Spring Boot application whose sessions live in the farm: the embedded Tomcat's context gets
 * the sessionfarm Manager from a {@code WebServerFactoryCustomizer}, configured with the same
 * attributes as in {@code context.xml}, and checked the same way when the context starts.
 */
@SpringBootApplication
@RestController
public class FarmBootApplication {

    public static void main(String[] args) {
        SpringApplication.run(FarmBootApplication.class, args);
    }

    /** The Manager, installed on the embedded Tomcat's context as context.xml would install it. */
    @Bean
    WebServerFactoryCustomizer<TomcatServletWebServerFactory> sessionfarm(Environment env) {
        return factory -> factory.addContextCustomizers(context -> {
            FarmManager manager = new FarmManager();
            manager.setJdbcUrl(env.getRequiredProperty("sessionfarm.jdbc-url"));
            manager.setUsername(env.getProperty("sessionfarm.username"));
            manager.setPassword(env.getProperty("sessionfarm.password"));
            manager.setMode(env.getProperty("sessionfarm.mode", "shared"));
            manager.setCheckpointAfterRequests("1");
            manager.setMasterKeyFile(env.getProperty("sessionfarm.master-key-file"));
            context.setManager(manager);
        });
    }

    private final String node;

    FarmBootApplication(Environment env) {
        this.node = env.getProperty("sessionfarm.node", "boot");
    }

    @GetMapping("/api/ping")
    Map<String, Object> ping() {
        return Map.of("node", node, "up", true);
    }

    /** Counts this session's requests, on whichever node of the farm serves them. */
    @GetMapping("/api/whoami")
    Map<String, Object> whoami(HttpSession session) {
        Integer counter = (Integer) session.getAttribute("counter");
        counter = counter == null ? 1 : counter + 1;
        session.setAttribute("counter", counter);
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("node", node);
        reply.put("counter", counter);
        return reply;
    }
}
