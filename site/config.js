// The API base URL. `make publish` overwrites this file with the deployed API's URL.
export default { apiUrl: "/api" };
