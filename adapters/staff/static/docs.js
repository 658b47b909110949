// The staff API page: Swagger UI on the document this server serves, nothing fetched from elsewhere
// (validatorUrl off: Swagger UI would otherwise send the document to validator.swagger.io for its badge).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
